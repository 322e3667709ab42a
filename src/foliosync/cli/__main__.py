from foliosync.cli import main

main()
