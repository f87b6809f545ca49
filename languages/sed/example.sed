# sed edits its input: run, type a line, then press EOF.
s/.*/Hello, &!/
