# Warnings are errors on our own code only; third-party headers come in as SYSTEM includes.
# -Wno-restrict: GCC 12 reports impossible overlaps in std::string concatenation at -O2/-O3 (GCC bug 105651).
set(DPD_WARNINGS -Wall -Wextra -Werror -Wno-missing-field-initializers -Wno-restrict)
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  # The fuzz build only: GCC's warning set (and its -Werror) is what the shipped builds are held to.
  set(DPD_WARNINGS -Wall -Wextra -Wno-missing-field-initializers)
endif()
