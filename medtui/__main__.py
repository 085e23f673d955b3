from medtui.cli import main

raise SystemExit(main())
