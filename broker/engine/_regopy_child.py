"""Child process for risky regopy work (run as a script; imports only regopy and the stdlib).

rego-cpp 1.5.2 aborts or segfaults the whole process on some valid policies (measured:
``allow with input as {...}``), which no ``except`` can catch. The parent sends
``{"modules", "data", "queries"}`` on stdin; each query's outcome is written as one JSON line to
the original stdout as soon as it is known, so a crash identifies the query that caused it.
rego-cpp's own printing is sent to /dev/null (fd 1 is re-pointed; results use a dup of it).
"""

import json
import os
import sys


def main() -> None:
    results = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    import regopy

    job = json.load(sys.stdin)
    interp = regopy.Interpreter()
    for name in sorted(job["modules"]):
        interp.add_module(name, job["modules"][name])
    interp.add_data_json(json.dumps(job["data"]))
    if job.get("build"):
        interp.build(None, [job["build"]])
    for query in job["queries"]:
        interp.set_input_term(json.dumps(query.get("input", {})))
        try:
            output = interp.query(query["path"])
            row = {"path": query["path"], "ok": output.ok(), "text": str(output)}
        except Exception as exc:
            row = {"path": query["path"], "ok": False, "text": f"{type(exc).__name__}: {exc}"}
        results.write(json.dumps(row) + "\n")
        results.flush()
    results.write(json.dumps({"done": True}) + "\n")
    results.flush()


if __name__ == "__main__":
    main()
