# Size parser and tmem.conf reader (included from Makefile.am).
