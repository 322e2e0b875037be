"""`python -m minitrain` runs the same command as `minitrain`."""

from minitrain.cli import main

if __name__ == "__main__":
    main()
