from implkit.cli import main

main()
