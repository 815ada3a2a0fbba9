# Every link in the documentation resolves.
#
# README.md, docs/*.md, bench/*.md and the other Markdown files of the
# tree link to each other, often to a section (file.md#anchor).  This test
# reads every link outside code blocks and code spans: a relative target
# must exist in the tree, and an anchor must be a heading of its target
# file, slugged as GitHub does (lower case, punctuation but "-" and "_"
# dropped, spaces to "-", a repeated heading numbered -1, -2, ...).
# Links to other sites are not fetched (the test needs no network).
# It also checks that the README stays short enough to read in one sitting.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Find;
use File::Spec;
use Test::More;

my $tree = abs_path(dirname(__FILE__) . '/../..');

# the Markdown files of the tree (not node_modules, not build output)
my @files;
find(
	{
		wanted => sub {
			if (-d $_ && /^(?:node_modules|\.git|tmp_check.*|results|output_iso|log)$/)
			{
				$File::Find::prune = 1;
				return;
			}
			push @files, $File::Find::name if -f $_ && /\.md$/;
		},
		no_chdir => 0,
	},
	$tree);
@files = sort @files;
ok(scalar(grep { m{/README\.md$} } @files) >= 1 && scalar(grep { m{/docs/[^/]+\.md$} } @files) >= 8,
	'README.md and the docs/ files are found: ' . scalar(@files) . ' Markdown files');

# The text of a file with code blocks and code spans blanked out.
sub prose
{
	my ($text) = @_;
	my @out;
	my $in_block = 0;
	foreach my $line (split /\n/, $text, -1)
	{
		if ($line =~ /^\s*```/)
		{
			$in_block = !$in_block;
			push @out, '';
			next;
		}
		if ($in_block)
		{
			push @out, '';
			next;
		}
		$line =~ s/`[^`]*`/ /g;
		push @out, $line;
	}
	return join("\n", @out);
}

# GitHub's anchor of a heading's text.
sub slug
{
	my ($heading) = @_;
	my $s = lc $heading;
	$s =~ s/^\s+|\s+$//g;
	$s =~ s/[^\w\- ]//g;
	$s =~ s/ /-/g;
	return $s;
}

# The anchors of a Markdown file.
my %anchors_of;
sub anchors
{
	my ($file) = @_;
	return $anchors_of{$file} if $anchors_of{$file};
	open(my $fh, '<', $file) or die "cannot read $file: $!";
	my $text = do { local $/; <$fh> };
	close $fh;
	my (%anchors, %seen);
	my $in_block = 0;
	foreach my $line (split /\n/, $text)
	{
		$in_block = !$in_block if $line =~ /^\s*```/;
		next if $in_block;
		next unless $line =~ /^#{1,6}\s+(.*?)\s*#*\s*$/;
		my $s = slug($1);
		$s .= '-' . $seen{$s} if $seen{$s}++;
		$anchors{$s} = 1;
	}
	return $anchors_of{$file} = \%anchors;
}

my ($links, @broken) = (0);
foreach my $file (@files)
{
	open(my $fh, '<', $file) or die "cannot read $file: $!";
	my $text = prose(do { local $/; <$fh> });
	close $fh;
	(my $name = $file) =~ s{^\Q$tree\E/}{};
	while ($text =~ /\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)
	{
		my $target = $1;
		next if $target =~ m{^(?:[a-z][a-z0-9+.-]*:|//)}i;    # another site, mailto:
		$links++;
		my ($path, $anchor) = split /#/, $target, 2;
		my $resolved =
		  $path eq '' ? $file : File::Spec->rel2abs($path, dirname($file));
		if (!-e $resolved)
		{
			push @broken, "$name: $target (no such file)";
			next;
		}
		next unless defined $anchor && $anchor ne '';
		if ($resolved !~ /\.md$/)
		{
			push @broken, "$name: $target (an anchor into a file that is not Markdown)";
			next;
		}
		push @broken, "$name: $target (no such section)"
		  unless anchors($resolved)->{$anchor};
	}
}
ok($links >= 50, "the documentation has $links relative links");
is(join("\n", @broken), '', 'every link resolves to a file and a section');

# the README stays a README: short, with the two commands on its first screen
open(my $fh, '<', "$tree/README.md") or die "cannot read README.md: $!";
my @readme = <$fh>;
close $fh;
ok(scalar(@readme) <= 400, 'README.md has ' . scalar(@readme) . ' lines (at most 400)');
my $first_screen = join('', @readme[ 0 .. 19 ]);
like($first_screen, qr{scripts/demo\.sh}, 'the first screen gives the demo command');
like($first_screen, qr{scripts/test\.sh}, 'the first screen gives the test command');

# a deliberately broken link is caught (the checker is not blind)
{
	my $probe = "$tree/README.md";
	my %a = %{ anchors($probe) };
	ok(!$a{'no-such-section-here'} && $a{'install'},
		'the anchor reader finds real sections and no invented one');
}

done_testing();
