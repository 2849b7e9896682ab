# Warnings are errors on our own code only; third-party headers come in as SYSTEM includes.
# -Wno-restrict: GCC 12 reports impossible overlaps in std::string concatenation at -O2/-O3 (GCC bug 105651).
set(DPD_WARNINGS -Wall -Wextra -Werror -Wno-missing-field-initializers -Wno-restrict)
