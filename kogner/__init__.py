"""KoGNER: knowledge-graph-distilled biomedical NER. One package per stage:

``kg`` -> ``teacher`` -> ``datagen`` / ``corpora`` -> ``training`` -> ``evaluation``; the model itself is
``modeling_kogner`` (remote code, torch + transformers only).
"""
