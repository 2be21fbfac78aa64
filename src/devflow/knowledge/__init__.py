"""Knowledge hub: sources, crawling and ingestion, chunking, embeddings, hybrid search, answers."""
