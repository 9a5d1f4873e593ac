"""``python -m sim`` is the ``chatsim`` command."""

from sim.cli import main

if __name__ == "__main__":
    main()
