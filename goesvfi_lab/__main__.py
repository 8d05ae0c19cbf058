from goesvfi_lab.cli import main

raise SystemExit(main())
