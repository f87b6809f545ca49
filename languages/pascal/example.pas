program Hello;
begin
  writeln('Hello from Runnel!');
end.
