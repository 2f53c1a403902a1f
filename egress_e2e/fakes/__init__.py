"""The hermetic fake internet: the seeds' external hosts, served by local or containerised fakes."""
