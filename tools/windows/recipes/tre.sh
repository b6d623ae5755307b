# TRE: POSIX regcomp/regexec (as tre_regcomp, ... with <tre/regex.h> naming them as POSIX does)
# for the forms' regex() and text patterns: Windows has no <regex.h>. Static, no agrep, no NLS.
autotools_build --disable-agrep --disable-nls --disable-approx
