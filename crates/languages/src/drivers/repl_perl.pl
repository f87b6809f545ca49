# Runnel's session driver for Perl (crates/languages/src/repl.rs describes the protocol).
# Cells are string-eval'd in package main: package variables (`our`), subs and `use`d modules
# persist from cell to cell; `my` variables live as long as their cell, as in any string eval.
use strict;
use warnings;

# Defined before any lexical of the driver, so a cell sees none of them.
sub runnel_cell {
    local $SIG{INT} = sub { die "KeyboardInterrupt\n" };
    package main;
    no strict;
    no warnings;
    eval "#line 1 \"(cell)\"\n$_[0]\n;1" or return ($@ ne '' ? $@ : "died\n");
    return '';
}

use JSON::PP ();
use IO::Handle ();

unlink $0;
$SIG{INT} = 'IGNORE';
open(my $control_in, '<&=', 3) or die "fd 3: $!";
open(my $control_out, '>&=', 4) or die "fd 4: $!";
$control_out->autoflush(1);
STDOUT->autoflush(1);
STDERR->autoflush(1);
my $json = JSON::PP->new->canonical;
print {$control_out} $json->encode({ op => 'ready' }), "\n";
while (my $line = <$control_in>) {
    my $message = eval { $json->decode($line) };
    next unless ref $message eq 'HASH' && ($message->{op} // '') eq 'execute';
    # A SIGINT that lands in runnel_cell just after the cell's eval dies out of it: the cell's.
    my $error = eval { runnel_cell($message->{code} // '') } // "KeyboardInterrupt\n";
    my ($status, $ename, $evalue) = ('ok', undef, undef);
    if ($error ne '') {
        ($status, $ename) = ('error', $error eq "KeyboardInterrupt\n" ? 'KeyboardInterrupt' : 'Error');
        ($evalue = $error) =~ s/\s+\z//;
        print STDERR $error;
    }
    my $marker = $message->{marker} // '';
    print STDOUT $marker;
    print STDERR $marker;
    print {$control_out} $json->encode({
        op => 'done', id => $message->{id}, status => $status,
        ename => $ename, evalue => $evalue,
    }), "\n";
}
