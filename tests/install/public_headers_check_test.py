#!/usr/bin/python3
"""The configure-time check that a public header includes only public headers
(cmake/check_public_headers.cmake), run in `cmake -P` mode on small trees of headers: a
clean set passes, and each planted violation fails with an error naming both headers.

Usage: public_headers_check_test.py SOURCE_DIR"""
import os
import subprocess
import sys
import tempfile
import unittest

SOURCE = None


def check(files, public):
    """Writes `files` (path -> text) into a fresh tree and runs the check on `public`."""
    with tempfile.TemporaryDirectory(prefix="raftkv-public-headers-") as src:
        for path, text in files.items():
            os.makedirs(os.path.join(src, os.path.dirname(path)), exist_ok=True)
            with open(os.path.join(src, path), "w") as f:
                f.write(text)
        return subprocess.run(
            ["cmake", f"-DSRC_DIR={src}", f"-DPUBLIC_HEADERS={';'.join(public)}", "-P",
             os.path.join(SOURCE, "cmake", "check_public_headers.cmake")],
            capture_output=True, text=True, timeout=60)


TREE = {
    "pub/api.h": '#pragma once\n#include <vector>\n\n#include "absl/status/status.h"\n'
                 '#include "pub/types.h"\n#include "raftkv_version.h"\n',
    "pub/types.h": "#pragma once\n#include <cstdint>\n",
    "internal/detail.h": '#pragma once\n#include "pub/types.h"\n',
}


class PublicHeadersCheck(unittest.TestCase):
    def test_public_headers_that_include_only_public_ones_pass(self):
        p = check(TREE, ["pub/api.h", "pub/types.h"])
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_an_internal_include_fails_naming_both_headers(self):
        tree = dict(TREE)
        tree["pub/leaky.h"] = '#pragma once\n#include "pub/types.h"\n#include "internal/detail.h"\n'
        p = check(tree, ["pub/api.h", "pub/types.h", "pub/leaky.h"])
        self.assertNotEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn('public header pub/leaky.h includes "internal/detail.h", which is internal',
                      " ".join(p.stderr.split()))

    def test_a_header_of_ours_left_off_the_list_fails(self):
        # api.h stays public and types.h is dropped from the list: the check names the pair
        # instead of installing api.h without what it includes.
        p = check(TREE, ["pub/api.h"])
        self.assertNotEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn('public header pub/api.h includes "pub/types.h", which is internal',
                      " ".join(p.stderr.split()))

    def test_an_include_that_is_neither_ours_nor_a_dependency_fails(self):
        tree = dict(TREE)
        tree["pub/types.h"] = '#pragma once\n#include "vendored/thing.h"\n'
        p = check(tree, ["pub/api.h", "pub/types.h"])
        self.assertNotEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn('public header pub/types.h includes "vendored/thing.h", which is neither ours',
                      " ".join(p.stderr.split()))

    def test_the_tree_s_own_public_headers_pass(self):
        # The list cmake/install.cmake holds, read from it, against src/.
        with open(os.path.join(SOURCE, "cmake", "install.cmake")) as f:
            text = f.read()
        start = text.index("set(RAFTKV_PUBLIC_HEADERS") + len("set(RAFTKV_PUBLIC_HEADERS")
        public = text[start:text.index(")", start)].split()
        self.assertIn("raft/raft.h", public)
        p = subprocess.run(
            ["cmake", f"-DSRC_DIR={os.path.join(SOURCE, 'src')}",
             f"-DPUBLIC_HEADERS={';'.join(public)}", "-P",
             os.path.join(SOURCE, "cmake", "check_public_headers.cmake")],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


if __name__ == "__main__":
    SOURCE = os.path.abspath(sys.argv[1])
    unittest.main(argv=[sys.argv[0], "-v"])
