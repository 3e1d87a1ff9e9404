"""Text analysis shared by both paths: sentences, Arabic normalisation, index words."""
