"""The emulator's test suite: one module per concern, each test naming its fact-sheet section."""
