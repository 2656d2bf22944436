"""Handwriting synthesis (Graves 2013, sections 4-5): pen-stroke data from IAM-OnDB files and
synthetic handwriting written with the Hershey fonts (model, training and export to come)."""
