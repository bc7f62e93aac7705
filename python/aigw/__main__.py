from aigw.cli import main

main()
