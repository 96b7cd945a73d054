#!/usr/bin/python3
"""`cmake --install` into a temporary prefix, then used from outside the tree: the layout
(exactly the documented public headers, no internal one), the examples configured
and built as a project of their own with find_package(raftkv) and their tests run there,
each public header compiled alone, the pkg-config files, and the installed binaries'
--version.

Usage: install_test.py BUILD_DIR SOURCE_DIR"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

BUILD = SOURCE = PREFIX = None

# The public headers as docs/embedding.md (section 4, "API stability") lists them: the
# installed include tree holds these and nothing else.
PUBLIC = ["raft/raft.h", "raft/types.h", "raft/message.h", "raft/ready.h", "raft/config.h",
          "raft/error.h", "raft/roles.h", "raft/progress_state.h", "raft/invariant.h",
          "storage/status.h", "storage/wal.h", "storage/snapshot_file.h",
          "storage/file_system.h", "storage/mem_file_system.h", "transport/transport.h",
          "transport/grpc_transport.h", "transport/local_transport.h", "node/raft_node.h",
          "node/state_machine.h", "node/node_config.h", "node/node_error.h",
          "node/node_types.h", "node/node_metrics.h", "metrics/registry.h", "raftkv_version.h"]


def run(args, **kw):
    p = subprocess.run(args, capture_output=True, text=True, timeout=kw.pop("timeout", 600),
                       **kw)
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p.stdout


def setUpModule():
    global PREFIX
    PREFIX = tempfile.mkdtemp(prefix="raftkv-install-")
    run(["cmake", "--install", BUILD, "--prefix", PREFIX])


def tearDownModule():
    shutil.rmtree(PREFIX, ignore_errors=True)


def pkg_config(*args):
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(PREFIX, "lib", "pkgconfig"))
    return run(["pkg-config", *args], env=env).split()


class Layout(unittest.TestCase):
    def test_the_include_tree_holds_exactly_the_public_headers(self):
        inc = os.path.join(PREFIX, "include", "raftkv")
        installed = sorted(os.path.relpath(os.path.join(d, f), inc)
                           for d, _, files in os.walk(inc) for f in files)
        self.assertEqual(installed, sorted(PUBLIC))
        # Spelled out, the internal headers the public ones used to pull in: the core's
        # parts, the runtime's threads, the WAL's format, the log throttle, the protobufs.
        for h in ["raft/raft_core.h", "raft/raft_log.h", "raft/progress.h", "raft/quorum.h",
                  "raft/read_only.h", "raft/rng.h", "raft/config_history.h",
                  "raft/role_state.h", "node/applier.h", "node/core_loop.h",
                  "node/dispatcher.h", "node/storage_writer.h", "node/request_tracker.h",
                  "node/removed_members.h", "storage/wal_format.h", "log/throttle.h",
                  "raftkv/node.pb.h", "raftkv/peer.pb.h", "server/server.h", "kv/store.h"]:
            self.assertFalse(os.path.exists(os.path.join(inc, h)), h)

    def test_the_docs_the_build_and_the_api_reference_list_the_same_headers(self):
        # docs/embedding.md, section 4: the table's rows, folder and backquoted names.
        with open(os.path.join(SOURCE, "docs", "embedding.md")) as f:
            doc = f.read()
        section = doc[doc.index("## 4. API stability"):doc.index("**Versions.**")]
        documented = {"raftkv_version.h"}
        for folder, names in re.findall(r"^\| `(\w+/)` \| (.*) \|$", section, re.M):
            documented |= {folder + n for n in re.findall(r"`([\w.]+\.h)`", names)}
        self.assertEqual(sorted(documented), sorted(PUBLIC))
        # cmake/install.cmake's list, which is what gets installed.
        with open(os.path.join(SOURCE, "cmake", "install.cmake")) as f:
            text = f.read()
        start = text.index("set(RAFTKV_PUBLIC_HEADERS") + len("set(RAFTKV_PUBLIC_HEADERS")
        listed = text[start:text.index(")", start)].split()
        self.assertEqual(sorted(listed + ["raftkv_version.h"]), sorted(PUBLIC))
        # The API reference (make docs) covers each of them.
        with open(os.path.join(SOURCE, "docs", "Doxyfile")) as f:
            doxy = f.read()
        inputs = re.search(r"^INPUT\s*=((?:.*\\\n)*.*)$", doxy, re.M).group(1)
        referenced = {w[len("src/"):] for w in inputs.split() if w.startswith("src/")}
        self.assertEqual(sorted(referenced | {"raftkv_version.h"}), sorted(PUBLIC))

    def test_libraries_package_and_binaries_are_where_the_docs_say(self):
        for lib in ["raft", "storage", "transport", "node"]:
            self.assertTrue(os.path.isfile(os.path.join(PREFIX, "lib", f"libraftkv_{lib}.a")), lib)
        for f in ["raftkvConfig.cmake", "raftkvConfigVersion.cmake", "raftkvTargets.cmake"]:
            self.assertTrue(os.path.isfile(os.path.join(PREFIX, "lib", "cmake", "raftkv", f)), f)
        for tool in ["raftkv", "raftkvctl", "raftkv-bench"]:
            out = run([os.path.join(PREFIX, "bin", tool), "--version"])
            self.assertTrue(out.startswith(f"{tool} version: "), out)


class OutsideProject(unittest.TestCase):
    def test_the_examples_build_against_the_installed_package_and_run(self):
        build = os.path.join(PREFIX, "build-examples")
        # Only the prefix: nothing of the source tree's build is visible to the project.
        run(["cmake", "-S", os.path.join(SOURCE, "examples"), "-B", build, "-G", "Ninja",
             "-DCMAKE_BUILD_TYPE=Release", f"-DCMAKE_PREFIX_PATH={PREFIX}"])
        run(["cmake", "--build", build, "-j", "2"], timeout=1200)
        out = run([os.path.join(build, "replicated_counter")], timeout=60)
        self.assertIn("counter = 55", out)
        # Every example's own test, there: the lock service's three processes, the
        # streaming snapshot's restores.
        out = run(["ctest", "--output-on-failure"], cwd=build, timeout=600)
        self.assertIn("100% tests passed", out)
        self.assertIn("example.lock_service", out)

    def test_each_public_header_compiles_on_its_own(self):
        flags = pkg_config("--cflags", "raftkv-node")
        for h in PUBLIC:
            with self.subTest(header=h):
                run(["g++", "-std=c++20", "-fsyntax-only", "-x", "c++", *flags, "-"],
                    input=f'#include "{h}"\n')

    def test_pkg_config_links_the_core_alone(self):
        exe = os.path.join(PREFIX, "counter-pc")
        run(["g++", "-O1", os.path.join(SOURCE, "examples", "replicated_counter.cc"), "-o", exe,
             *pkg_config("--cflags", "--libs", "raftkv-raft")])
        self.assertIn("counter = 55", run([exe], timeout=60))
        # The node's file names everything it needs (each -l resolves).
        self.assertIn("-lraftkv_node", pkg_config("--libs", "raftkv-node"))


class SharedLibrary(unittest.TestCase):
    def test_one_versioned_shared_library_runs_the_runtime_example(self):
        lib = os.path.join(PREFIX, "lib")
        real = glob.glob(os.path.join(lib, "libraftkv.so.*.*.*"))
        self.assertEqual(len(real), 1, os.listdir(lib))
        major_minor = ".".join(real[0].rsplit(".so.", 1)[1].split(".")[:2])
        soname = f"libraftkv.so.{major_minor}"
        self.assertIn(f"SONAME               {soname}\n", run(["objdump", "-p", real[0]]))
        self.assertEqual(os.readlink(os.path.join(lib, soname)), os.path.basename(real[0]))
        self.assertEqual(os.readlink(os.path.join(lib, "libraftkv.so")), soname)
        # RaftNode, its transport and storage through pkg-config raftkv, the shared library
        # alone: three members in one process, snapshots streamed and restored.
        exe = os.path.join(PREFIX, "streaming-shared")
        run(["g++", "-O1", os.path.join(SOURCE, "examples", "streaming_snapshot",
                                        "streaming_snapshot.cc"), "-o", exe,
             *pkg_config("--cflags", "--libs", "raftkv")], timeout=900)
        env = dict(os.environ, LD_LIBRARY_PATH=lib)
        self.assertIn(f"{soname} => {lib}/{soname}", run(["ldd", exe], env=env))
        self.assertNotIn("libraftkv_", run(["nm", "-C", exe]))  # nothing linked statically
        run([exe], env=env, timeout=120)

    def test_cmake_links_raftkv_shared(self):
        project = os.path.join(PREFIX, "shared-project")
        os.makedirs(project)
        with open(os.path.join(project, "CMakeLists.txt"), "w") as f:
            f.write("cmake_minimum_required(VERSION 3.25)\nproject(p CXX)\n"
                    "set(CMAKE_CXX_STANDARD 20)\nfind_package(raftkv CONFIG REQUIRED)\n"
                    f"add_executable(counter {SOURCE}/examples/replicated_counter.cc)\n"
                    "target_link_libraries(counter PRIVATE raftkv::shared)\n")
        build = os.path.join(project, "build")
        run(["cmake", "-S", project, "-B", build, "-G", "Ninja", f"-DCMAKE_PREFIX_PATH={PREFIX}"])
        run(["cmake", "--build", build])
        exe = os.path.join(build, "counter")
        self.assertIn("libraftkv.so.", run(["ldd", exe]))
        self.assertIn("counter = 55", run([exe], timeout=60))


if __name__ == "__main__":
    BUILD, SOURCE = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0], "-v"])
