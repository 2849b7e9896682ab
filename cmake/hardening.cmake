# Debian's hardening flags for the builds we ship (release; the sanitizer builds instrument instead): fortified libc
# calls, stack protector, and a read-only GOT (relro + bindnow). lintian checks the package for them.
if(CMAKE_BUILD_TYPE STREQUAL "Release" AND NOT DPD_ASAN AND NOT DPD_TSAN)
  add_compile_definitions(_FORTIFY_SOURCE=2)
  add_compile_options(-fstack-protector-strong)
  add_link_options(LINKER:-z,relro LINKER:-z,now)
endif()
