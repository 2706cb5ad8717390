"""Run memory: the RunStore protocol and its stores (chromadb). Arrives with the memory issue."""
