"""`make bench`: the performance numbers the README's "Performance" section quotes, for sdgen and a
naive baseline, measured in one run against the in-repo emulator (see tests/bench/__main__.py).
Not part of `make test`."""
