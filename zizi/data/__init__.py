"""Image datasets: preparing real folders, opt-out curation, and the training Dataset.

Submodules are imported directly (`from zizi.data.prepare import prepare`) so that
`import zizi` never pulls in numpy, Pillow or torch.
"""
