"""`python -m onecard.cli_entry ...` runs the CLI without the console script (tests, CI)."""
from onecard.cli import main

if __name__ == "__main__":
    main()
