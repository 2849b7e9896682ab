# Every dependency comes from Debian packages installed by scripts/setup.sh (see ../shared/DEPENDENCIES.md).
find_package(Boost 1.81.0 EXACT CONFIG REQUIRED COMPONENTS json)
find_package(spdlog CONFIG REQUIRED)
find_package(fmt CONFIG REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(GTest CONFIG REQUIRED)
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)

# Asio and Beast are compiled once, in one small library (dpd_asio), instead of in every translation unit.
add_library(dpd_asio STATIC ${PROJECT_SOURCE_DIR}/cmake/asio_src.cc)
target_compile_definitions(dpd_asio PUBLIC BOOST_ASIO_SEPARATE_COMPILATION BOOST_BEAST_SEPARATE_COMPILATION
                                           BOOST_ASIO_NO_DEPRECATED)
target_link_libraries(dpd_asio PUBLIC Boost::headers Threads::Threads)
