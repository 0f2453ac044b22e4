"""`python -m sdgen` runs the same CLI as the `sdgen` console script."""

from sdgen.cli.main import main

raise SystemExit(main())
