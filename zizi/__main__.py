"""`python -m zizi` is the same as the `zizi` command."""

from zizi.cli import main

if __name__ == "__main__":
    main()
