from mcpwarden.cli import main

raise SystemExit(main())
