"""The retrieval quality of Recall on LoCoMo conversations, beside BM25 (`memoire eval locomo`).

Each conversation goes to a user of its own; every turn is ingested through the real gRPC API
as one message of its session, then every QA question is recalled (limit 10) and scored
against the dialog ids of its evidence turns. No LLM is involved: this measures retrieval.

A turn is stored as ``"<speaker>: <text>"``, followed by ``" [shares <caption>]"`` when it
shares a photo (LoCoMo's BLIP caption stands in for the image, as in the LoCoMo paper; the
image-search ``query`` field is never used). Its ``create_time`` is its session's date plus
one second per turn, so turns keep their order; ``client_message_id`` is its dialog id.

Metrics, over categories 1-4 (category 5 is adversarial and left out):

- **R@k**: the fraction of an item's evidence dialog ids found among the dialog ids of the
  top k recalled memories (a memory derived from several messages counts for all of them),
  averaged over items;
- **MRR**: 1 / rank of the first recalled memory that holds any evidence id (0 when none of
  the 10 does), averaged over items.

Recall has a few weights tuned on this data (how much a question weighs against a statement,
how much a date the query names counts). So that the figure is not a fit to the five
conversations, the embedded stack also reports them left out one at a time: for each
conversation, the weights that score best on the other four (over a small grid) recall its
questions, and the held-out results make a second table beside the plain one.

The BM25 baseline (k1 = 1.2, b = 0.75; lower-cased alphanumeric tokens less a short list of
English stop words, no stemming) ranks the same turn texts of each conversation, in the same
run.
"""
