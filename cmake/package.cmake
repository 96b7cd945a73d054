# make package: two Debian packages, built by CPack from the install rules.
#   raftkv      raftkv, raftkvctl and raftkv-bench in /usr/bin with their man pages, the
#               systemd unit (raftkv.service, Type=notify, User=raftkv, data in
#               /var/lib/raftkv) and /etc/raftkv/raftkv.toml with every setting commented
#   libraftkvX.Y the shared library, libraftkv.so.X.Y
#   raftkv-dev  the library: headers, static libraries, the CMake package, pkg-config
# The files only the package carries are made by the target raftkv_package_files (the
# config file from raftkv-config-template, man pages from --help by help2man), which
# `make package` builds before it runs cpack.
set(RAFTKV_PACKAGE_FILES ${CMAKE_BINARY_DIR}/package-files)
find_program(RAFTKV_HELP2MAN help2man)
set(man_pages)
if(RAFTKV_HELP2MAN)
  foreach(tool raftkv raftkvctl raftkv-bench)
    add_custom_command(
      OUTPUT ${RAFTKV_PACKAGE_FILES}/${tool}.1.gz
      COMMAND ${CMAKE_COMMAND} -E make_directory ${RAFTKV_PACKAGE_FILES}
      COMMAND ${RAFTKV_HELP2MAN} --no-info --no-discard-stderr -o ${RAFTKV_PACKAGE_FILES}/${tool}.1
              $<TARGET_FILE:${tool}>
      COMMAND gzip -9nf ${RAFTKV_PACKAGE_FILES}/${tool}.1
      DEPENDS ${tool} COMMENT "man page of ${tool}" VERBATIM)
    list(APPEND man_pages ${RAFTKV_PACKAGE_FILES}/${tool}.1.gz)
  endforeach()
endif()
add_custom_command(
  OUTPUT ${RAFTKV_PACKAGE_FILES}/raftkv.toml
  COMMAND ${CMAKE_COMMAND} -E make_directory ${RAFTKV_PACKAGE_FILES}
  COMMAND sh -c "$0 'data-dir=\"/var/lib/raftkv\"' > ${RAFTKV_PACKAGE_FILES}/raftkv.toml"
          $<TARGET_FILE:raftkv-config-template>
  DEPENDS raftkv-config-template COMMENT "the packaged raftkv.toml" VERBATIM)
add_custom_target(raftkv_package_files DEPENDS ${RAFTKV_PACKAGE_FILES}/raftkv.toml ${man_pages})

# At absolute paths, and only in the package: a plain `cmake --install --prefix P` leaves
# them out (EXCLUDE_FROM_ALL), so that it never writes to /etc.
install(FILES ${RAFTKV_PACKAGE_FILES}/raftkv.toml DESTINATION /etc/raftkv COMPONENT service
        EXCLUDE_FROM_ALL)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/debian/raftkv.service DESTINATION /lib/systemd/system
        COMPONENT service EXCLUDE_FROM_ALL)
install(FILES ${man_pages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT service
        EXCLUDE_FROM_ALL)

set(CPACK_PACKAGE_NAME raftkv)
set(CPACK_PACKAGE_VENDOR "raftkv")
set(CPACK_PACKAGE_CONTACT "raftkv developers <raftkv@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "replicated key-value server speaking etcd's v3 API, on Raft")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL server service dev lib)
set(CPACK_COMPONENT_SERVER_GROUP raftkv)
set(CPACK_COMPONENT_SERVICE_GROUP raftkv)
set(CPACK_COMPONENT_DEV_GROUP dev)
set(CPACK_COMPONENT_LIB_GROUP lib)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION database)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # the shared libraries' packages, from dpkg-shlibdeps

set(CPACK_DEBIAN_RAFTKV_PACKAGE_NAME raftkv)
set(CPACK_DEBIAN_RAFTKV_PACKAGE_DEPENDS adduser)
set(CPACK_DEBIAN_RAFTKV_DESCRIPTION
    "raftkv is a Raft consensus engine and a key-value server built on it: etcdctl
and etcd's client libraries work against it unchanged. This package holds the
server, raftkvctl (administration), raftkv-bench (load) and a systemd unit.")
set(CPACK_DEBIAN_RAFTKV_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/packaging/debian/postinst ${CMAKE_SOURCE_DIR}/packaging/debian/prerm
    ${CMAKE_SOURCE_DIR}/packaging/debian/postrm ${CMAKE_SOURCE_DIR}/packaging/debian/conffiles)
set(CPACK_DEBIAN_RAFTKV_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

set(RAFTKV_SO_PACKAGE libraftkv${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
set(CPACK_DEBIAN_LIB_PACKAGE_NAME ${RAFTKV_SO_PACKAGE})
set(CPACK_DEBIAN_LIB_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_LIB_DESCRIPTION
    "raftkv's Raft engine as one shared library: the core, the WAL, RaftNode and its
gRPC transport (libraftkv.so.${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}).")
# A shlibs file and the ldconfig trigger.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)

set(CPACK_DEBIAN_DEV_PACKAGE_NAME raftkv-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
    "${RAFTKV_SO_PACKAGE} (= ${PROJECT_VERSION}), libgrpc++-dev, libprotobuf-dev, libabsl-dev, libspdlog-dev, libxxhash-dev")
set(CPACK_DEBIAN_DEV_DESCRIPTION
    "raftkv's Raft engine as a C++ library, headers and static libraries:
raftkv::raft (the pure consensus core), raftkv::storage (the WAL) and
raftkv::node (the runtime over gRPC), with a CMake package and pkg-config files.")
include(CPack)
