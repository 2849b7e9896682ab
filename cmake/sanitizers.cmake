option(DPD_ASAN "Build with AddressSanitizer + UndefinedBehaviorSanitizer" OFF)
option(DPD_TSAN "Build with ThreadSanitizer" OFF)
if(DPD_ASAN)
  # -fno-sanitize=vptr: libnode (V8) is built without RTTI, and libstdc++ templates instantiated in our objects
  # (shared_ptr control blocks) are also called by libnode on its own objects, which have no typeinfo.
  add_compile_options(-fsanitize=address,undefined -fno-sanitize=vptr -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined -fno-sanitize=vptr)
endif()
if(DPD_TSAN)
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
endif()
if(DPD_ASAN OR DPD_TSAN)
  # GCC 12's flow analysis under sanitizer instrumentation reports false "maybe-uninitialized" in libstdc++
  # (std::regex, std::function) and a false "mismatched-new-delete" on Asio's coroutine frames; the release build
  # keeps both warnings.
  list(APPEND DPD_WARNINGS -Wno-maybe-uninitialized -Wno-mismatched-new-delete)
endif()
