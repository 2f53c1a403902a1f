from egress_e2e.cli import main

raise SystemExit(main())
