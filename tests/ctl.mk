# ctl tests (included from Makefile.am)
