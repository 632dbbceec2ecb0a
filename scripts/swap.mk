# swap scripts (included from Makefile.am)
