#!/usr/bin/env python3
"""Summarise a subunit v2 stream: write passed.txt, failed.txt, skipped.txt (test ids, one per
line, sorted) into a directory and print the counts and the failing ids. Runs in the tempest
virtualenv (python-subunit and testtools come with tempest)."""

import sys

import subunit
import testtools


def main():
    stream_path, out_dir = sys.argv[1], sys.argv[2]
    status = {}

    def on_test(test):
        tid = test["id"].split("[")[0]
        st = test["status"]
        if st in ("success", "xfail"):
            status[tid] = "passed"
        elif st == "skip":
            status.setdefault(tid, "skipped")
        elif st in ("fail", "uxsuccess"):
            status[tid] = "failed"

    with open(stream_path, "rb") as f:
        case = subunit.ByteStreamToStreamResult(f, non_subunit_name="stdout")
        result = testtools.StreamToDict(on_test)
        result.startTestRun()
        case.run(result)
        result.stopTestRun()
    groups = {"passed": [], "failed": [], "skipped": []}
    for tid, st in status.items():
        # setUpClass failures are reported against the class; keep them as failures.
        groups[st].append(tid)
    for name, ids in groups.items():
        with open(f"{out_dir}/{name}.txt", "w") as f:
            f.write("".join(i + "\n" for i in sorted(ids)))
    print(f"{len(groups['passed'])} passed, {len(groups['failed'])} failed, "
          f"{len(groups['skipped'])} skipped")
    for tid in sorted(groups["failed"]):
        print(f"FAILED {tid}")


if __name__ == "__main__":
    main()
