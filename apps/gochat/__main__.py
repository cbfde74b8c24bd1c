from gochat.cli import main

raise SystemExit(main())
