"""Entry point of the one-folder app (packaging/build_app.sh): the same `annotator` command."""
from annotator.cli import main

raise SystemExit(main())
