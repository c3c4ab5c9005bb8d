"""The spotting task: spotter plugins, spotting protocols, and LOSO runs on long videos."""
