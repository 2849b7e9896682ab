# Warnings are errors on our own code only; third-party headers come in as SYSTEM includes.
set(DPD_WARNINGS -Wall -Wextra -Werror -Wno-missing-field-initializers)
