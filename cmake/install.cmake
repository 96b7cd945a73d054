# What `cmake --install` puts under the prefix (docs/embedding.md):
#   include/raftkv/...        the public headers and nothing else, as they are included in
#                             the tree: "raft/raft.h", "node/raft_node.h"; raftkv_version.h
#   lib/libraftkv_*.a         the libraries: raftkv::raft (the pure core), raftkv::storage,
#                             raftkv::node (the runtime, with raftkv::transport over gRPC)
#   lib/libraftkv.so.X.Y      all of them as one shared library: raftkv::shared
#   lib/cmake/raftkv/         the CMake package: find_package(raftkv CONFIG REQUIRED)
#   lib/pkgconfig/raftkv*.pc  pkg-config: raftkv-raft, raftkv-storage, raftkv-node (static),
#                             raftkv (the shared library)
#   bin/                      raftkv, raftkvctl, raftkv-bench
include(CMakePackageConfigHelpers)
include(${CMAKE_CURRENT_LIST_DIR}/check_public_headers.cmake)

set(RAFTKV_INSTALL_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR}/raftkv)
set(RAFTKV_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/raftkv)

# The public API: what an embedder includes, and the only headers installed (docs/embedding.md,
# API stability; tests/install checks the installed tree against that list). Every other header
# is internal: the tree's own code includes it, nothing installed does.
set(RAFTKV_PUBLIC_HEADERS
    raft/raft.h raft/types.h raft/message.h raft/ready.h raft/config.h raft/error.h
    raft/roles.h raft/progress_state.h raft/invariant.h
    storage/status.h storage/wal.h storage/snapshot_file.h storage/file_system.h storage/mem_file_system.h
    transport/transport.h transport/grpc_transport.h transport/local_transport.h
    node/raft_node.h node/state_machine.h node/node_config.h node/node_error.h node/node_types.h
    node/node_metrics.h
    metrics/registry.h)

# A public header that includes an internal one would not compile once installed: stop here,
# naming both. Besides ours, only abseil's headers and the generated raftkv_version.h.
raftkv_check_public_headers(${CMAKE_SOURCE_DIR}/src "^(absl/|raftkv_version\\.h$)"
                            ${RAFTKV_PUBLIC_HEADERS})
set(RAFTKV_INSTALLED_HEADERS ${RAFTKV_PUBLIC_HEADERS} raftkv_version.h
    CACHE INTERNAL "the headers cmake --install puts under include/raftkv")
foreach(header ${RAFTKV_PUBLIC_HEADERS})
  get_filename_component(dir ${header} DIRECTORY)
  install(FILES ${CMAKE_SOURCE_DIR}/src/${header} DESTINATION ${RAFTKV_INSTALL_INCLUDEDIR}/${dir}
          COMPONENT dev)
endforeach()
install(FILES ${CMAKE_BINARY_DIR}/generated/raftkv_version.h DESTINATION ${RAFTKV_INSTALL_INCLUDEDIR}
        COMPONENT dev)

# The libraries, by the names an embedder links: raftkv::raft, ::storage, ::transport,
# ::node; the others are what those link.
set(RAFTKV_EXPORTED
    raftkv_raft:raft raftkv_storage:storage raftkv_peer_proto:peer_proto
    raftkv_peer_codec:peer_codec raftkv_transport:transport raftkv_node_proto:node_proto
    raftkv_node:node raftkv_metrics:metrics raftkv_log:log raftkv_version:version)
set(targets)
foreach(pair ${RAFTKV_EXPORTED})
  string(REPLACE ":" ";" pair "${pair}")
  list(GET pair 0 target)
  list(GET pair 1 name)
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${name})
  list(APPEND targets ${target})
endforeach()
install(TARGETS ${targets} EXPORT raftkvTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
        INCLUDES DESTINATION ${RAFTKV_INSTALL_INCLUDEDIR})

# The same libraries as one shared library, libraftkv.so.<major.minor> (raftkv::shared,
# pkg-config raftkv): one, so that the core's globals (the invariant handler) exist once in
# a process. Linked from the static libraries' own objects, compiled position-independent
# for it (not compiled twice); sanitizer builds leave it out.
if(NOT RAFTKV_SANITIZE AND NOT RAFTKV_TSAN)
  set_target_properties(${targets} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  find_package(absl CONFIG REQUIRED)  # what the layers found in their own folders
  find_package(Protobuf REQUIRED)
  find_package(gRPC CONFIG REQUIRED)
  find_package(Threads REQUIRED)
  find_package(spdlog REQUIRED)
  set(objects)
  foreach(target ${targets})
    list(APPEND objects $<TARGET_OBJECTS:${target}>)
  endforeach()
  add_library(raftkv_shared SHARED ${objects})
  target_link_libraries(raftkv_shared
                        PUBLIC absl::status absl::statusor absl::synchronization absl::cord
                               protobuf::libprotobuf gRPC::grpc++ Threads::Threads
                        PRIVATE xxhash spdlog::spdlog)
  target_include_directories(raftkv_shared INTERFACE
    $<BUILD_INTERFACE:${CMAKE_SOURCE_DIR}/src> $<BUILD_INTERFACE:${CMAKE_BINARY_DIR}/proto>
    $<BUILD_INTERFACE:${CMAKE_BINARY_DIR}/generated>
    $<INSTALL_INTERFACE:${RAFTKV_INSTALL_INCLUDEDIR}>)
  set_target_properties(raftkv_shared PROPERTIES
    OUTPUT_NAME raftkv EXPORT_NAME shared VERSION ${PROJECT_VERSION}
    SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}
    LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib)
  add_library(raftkv::shared ALIAS raftkv_shared)
  install(TARGETS raftkv_shared EXPORT raftkvTargets
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT lib NAMELINK_COMPONENT dev)
  configure_file(${CMAKE_SOURCE_DIR}/cmake/raftkv.pc.in ${CMAKE_BINARY_DIR}/raftkv.pc @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/raftkv.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig
          COMPONENT dev)
endif()
install(EXPORT raftkvTargets NAMESPACE raftkv:: DESTINATION ${RAFTKV_INSTALL_CMAKEDIR}
        COMPONENT dev)
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/raftkvConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/raftkvConfig.cmake
                              INSTALL_DESTINATION ${RAFTKV_INSTALL_CMAKEDIR})
# Before 1.0 a minor version may break the API (docs/embedding.md): same minor only.
write_basic_package_version_file(${CMAKE_BINARY_DIR}/raftkvConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/raftkvConfig.cmake ${CMAKE_BINARY_DIR}/raftkvConfigVersion.cmake
        DESTINATION ${RAFTKV_INSTALL_CMAKEDIR} COMPONENT dev)

# pkg-config, one file per library an embedder links, each naming what it needs.
foreach(pc raft storage node)
  configure_file(${CMAKE_SOURCE_DIR}/cmake/raftkv-${pc}.pc.in ${CMAKE_BINARY_DIR}/raftkv-${pc}.pc
                 @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/raftkv-${pc}.pc
          DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)
endforeach()

install(TARGETS raftkv raftkvctl raftkv-bench RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        COMPONENT server)
