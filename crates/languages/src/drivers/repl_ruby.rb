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
    trap('INT') { raise Interrupt }
    send.call({ op: 'ready' })
    loop do
      line = begin
        control_in.gets
      rescue Interrupt
        next
      end
      break if line.nil?
      next if line.strip.empty?
      message = JSON.parse(line)
      next unless message['op'] == 'execute'
      status = 'ok'
      ename = nil
      evalue = nil
      begin
        TOPLEVEL_BINDING.eval(message['code'] || '', '(cell)', 1)
      rescue SystemExit => e
        unless e.success?
          status = 'error'
          ename = 'SystemExit'
          evalue = e.status.to_s
        end
      rescue Exception => e # the cell's error is the user's, reported as such
        status = 'error'
        ename = e.class.name
        evalue = e.message
        trace = (e.backtrace || []).reject { |frame| frame.include?(driver) }
        $stderr.write("#{trace.first || '(cell)'}: #{e.message} (#{e.class})\n")
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
