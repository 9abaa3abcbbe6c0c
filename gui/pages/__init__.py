"""The pages of the guided flow; each shows part of `AppState` and changes it through its methods."""
