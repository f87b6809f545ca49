# Runnel's session driver for Ruby (crates/languages/src/repl.rs describes the protocol).
# Cells are evaluated in TOPLEVEL_BINDING, so locals, methods and requires persist.
require 'json'

module RunnelSession
  def self.run(driver)
    begin
      File.unlink(driver)
    rescue SystemCallError
      nil
    end
    control_in = IO.new(3, 'rb')
    control_out = IO.new(4, 'wb')
    control_out.sync = true
    $stdout.sync = true
    $stderr.sync = true
    send = ->(message) { control_out.write(JSON.generate(message) + "\n") }
    # SIGINT raises Interrupt in the running cell only: one that lands while the driver reads
    # the next cell or reports the last is dropped, so that a burst of them (Ctrl-C pressed
    # again and again) cannot end the session. `in_cell` is cleared first thing wherever the
    # cell's code has ended, and an Interrupt raised just before that is the cell's.
    in_cell = false
    trap('INT') { raise Interrupt if in_cell }
    send.call({ op: 'ready' })
    loop do
      line = control_in.gets
      break if line.nil?
      next if line.strip.empty?
      message = JSON.parse(line)
      next unless message['op'] == 'execute'
      status = 'ok'
      ename = nil
      evalue = nil
      error = begin
        begin
          in_cell = true
          TOPLEVEL_BINDING.eval(message['code'] || '', '(cell)', 1)
          in_cell = false
          nil
        rescue Exception => e # the cell's error is the user's, reported as such
          in_cell = false
          e
        ensure
          in_cell = false
        end
      rescue Interrupt => e
        in_cell = false
        e
      end
      if error.is_a?(SystemExit)
        unless error.success?
          status = 'error'
          ename = 'SystemExit'
          evalue = error.status.to_s
        end
      elsif error
        status = 'error'
        ename = error.is_a?(Interrupt) ? 'KeyboardInterrupt' : error.class.name
        evalue = error.message
        trace = (error.backtrace || []).reject { |frame| frame.include?(driver) }
        $stderr.write("#{trace.first || '(cell)'}: #{error.message} (#{error.class})\n")
        trace.drop(1).each { |frame| $stderr.write("\tfrom #{frame}\n") }
      end
      $stdout.flush
      $stderr.flush
      marker = message['marker'] || ''
      $stdout.syswrite(marker)
      $stderr.syswrite(marker)
      send.call({ op: 'done', id: message['id'], status: status, ename: ename, evalue: evalue })
    end
  end
end

RunnelSession.run(__FILE__)
