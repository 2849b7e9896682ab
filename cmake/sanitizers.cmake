option(DPD_ASAN "Build with AddressSanitizer + UndefinedBehaviorSanitizer" OFF)
option(DPD_TSAN "Build with ThreadSanitizer" OFF)
option(DPD_FUZZ "Build the libFuzzer targets of fuzz/ (clang; ASan + UBSan; the fuzz preset)" OFF)
if(DPD_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "DPD_FUZZ needs clang (cmake --preset fuzz)")
  endif()
  # Every object is instrumented for coverage; only the fuzz targets link libFuzzer's main (fuzz/CMakeLists.txt).
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
if(DPD_ASAN)
  # -fno-sanitize=vptr: libnode (V8) is built without RTTI, and libstdc++ templates instantiated in our objects
  # (shared_ptr control blocks) are also called by libnode on its own objects, which have no typeinfo.
  add_compile_options(-fsanitize=address,undefined -fno-sanitize=vptr -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined -fno-sanitize=vptr)
endif()
if(DPD_TSAN)
  # ThreadSanitizer does not model std::atomic_thread_fence (GCC warns, -Wtsan), which Asio's fenced blocks use
  # around handler invocation; the scheduler's mutex already orders a handler after its post, so the fences are
  # dropped in this build rather than leaving TSan blind to them.
  add_compile_definitions(BOOST_ASIO_DISABLE_FENCED_BLOCK)
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
endif()
if(DPD_ASAN OR DPD_TSAN)
  # GCC 12's flow analysis under sanitizer instrumentation reports false "maybe-uninitialized" in libstdc++
  # (std::regex, std::function) and a false "mismatched-new-delete" on Asio's coroutine frames; the release build
  # keeps both warnings.
  list(APPEND DPD_WARNINGS -Wno-maybe-uninitialized -Wno-mismatched-new-delete)
endif()
