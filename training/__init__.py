"""Everything that builds the model files shipped in qa/data, one command per file, in this order:

    python -m training.reader        qa/data/reader.npz       the extractive reader
    python -m training.span_reader   qa/data/span_reader.npz  the span reader (the reader and a second seed, averaged)
    python -m training.confidence    qa/data/confidence.json  the passage choice, the confidence, the display thresholds

Their questions are in training/questions/; what they compute once is cached in training/.cache/.
Nothing here imports bench/, and the product (qa/, ui/) imports nothing from here.
"""
