from alerts.cli.root import main

main()
