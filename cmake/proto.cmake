# raftkv_proto_library(<target> <file.proto>...): generates C++ messages and gRPC stubs
# for .proto files under proto/ into the build tree and builds them as a static library.
# Generated code lives in its own target so it rebuilds only when a .proto changes, and
# only the gRPC adapter sources include it.
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_program(RAFTKV_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

function(raftkv_proto_library target)
  set(proto_root ${CMAKE_SOURCE_DIR}/proto)
  set(out ${CMAKE_BINARY_DIR}/proto)
  set(sources)
  foreach(proto ${ARGN})
    string(REGEX REPLACE "\\.proto$" "" base ${proto})
    set(generated ${out}/${base}.pb.cc ${out}/${base}.pb.h ${out}/${base}.grpc.pb.cc
                  ${out}/${base}.grpc.pb.h)
    add_custom_command(
      OUTPUT ${generated}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${out}
      COMMAND protobuf::protoc -I ${proto_root} --cpp_out=${out} --grpc_out=${out}
              --plugin=protoc-gen-grpc=${RAFTKV_GRPC_CPP_PLUGIN} ${proto_root}/${proto}
      DEPENDS ${proto_root}/${proto}
      COMMENT "protoc ${proto}")
    list(APPEND sources ${out}/${base}.pb.cc ${out}/${base}.grpc.pb.cc)
  endforeach()
  add_library(${target} STATIC ${sources})
  target_include_directories(${target} SYSTEM PUBLIC $<BUILD_INTERFACE:${out}>
                                                   $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/raftkv>)
  target_link_libraries(${target} PUBLIC protobuf::libprotobuf gRPC::grpc++)
  # Generated code is not ours to warn about.
  target_compile_options(${target} PRIVATE -w)
endfunction()
